"""What stands in front of the framework: the page cache, the RSGI bridge, the report fast path, metrics and
access-log redaction."""
