"""Generic time-series scoring (one `timestamp,value` series at a time, as NAB scores detectors): the
pure streaming scorer and its CSV I/O."""
