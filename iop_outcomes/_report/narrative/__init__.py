"""The report's text sections: summary (with the at-a-glance table), methods, provenance."""
