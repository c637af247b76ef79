"""Turning results into tables, figures and files. Never imports TensorFlow."""
