"""Click commands, one module per command family; each only parses options and calls the library."""
