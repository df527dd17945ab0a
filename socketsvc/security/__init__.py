"""Who may connect and how much: authentication, origins, proxies and abuse limits."""
