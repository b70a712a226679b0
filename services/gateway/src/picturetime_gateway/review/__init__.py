"""Picture Time gateway: the review queue of photos the aligner could not align well."""
