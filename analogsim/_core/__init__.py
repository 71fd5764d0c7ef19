"""What every layer uses: keys derived by name and index, labelled datasets and their
provenance, atomic writes, progress bars, and which process writes."""
