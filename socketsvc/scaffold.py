"""``socketsvc new DIR``: a starter app in a folder of its own, to edit into yours.

It is the README's auction: a handler module (``auction.py``), its settings (``app.toml``),
a client (``client.mjs``), and an image built on socketsvc's (``Dockerfile``,
``.dockerignore``) that ``compose.yaml`` runs on two nodes with Redis. Nothing is
overwritten: a folder that has any of these files is refused.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

TEMPLATES = resources.files("socketsvc") / "templates" / "app"
# written name -> template name (a dotfile is not package data under its own name)
FILES = {
    "auction.py": "auction.py",
    "app.toml": "app.toml",
    "client.mjs": "client.mjs",
    "Dockerfile": "Dockerfile",
    ".dockerignore": "dockerignore",
    "compose.yaml": "compose.yaml",
}


def create(directory: Path) -> list[Path]:
    """Write the starter app into ``directory`` (created if missing); the paths written.
    ``FileExistsError`` names the files that are there already, and nothing is written."""
    targets = {directory / name: template for name, template in FILES.items()}
    present = [str(path) for path in targets if path.exists()]
    if present:
        raise FileExistsError(f"already there: {', '.join(present)}")
    directory.mkdir(parents=True, exist_ok=True)
    for path, template in targets.items():
        path.write_text((TEMPLATES / template).read_text(encoding="utf-8"), encoding="utf-8")
    return list(targets)
