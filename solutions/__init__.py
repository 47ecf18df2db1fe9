"""Reference solutions: the same names as exercises/, written as worked answers."""
