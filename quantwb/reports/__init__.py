"""Reports: records in, a memory-vs-quality comparison out (terminal, Markdown, HTML, JSON, CSV, CI gate)."""
