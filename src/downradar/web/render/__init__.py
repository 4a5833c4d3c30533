"""Drawings for the pages: SVG badges, charts, sparklines, the region tile map and probe charts."""
