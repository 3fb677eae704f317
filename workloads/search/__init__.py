"""Searches over model parameters: the text pipeline grid search and the network width search."""
