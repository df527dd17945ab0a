"""The aiohttp application of one node: the factory, the runner, health, the API."""
