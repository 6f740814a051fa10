"""A synthetic London-like city whose true crime intensity is known (the default data source)."""
