"""Seed annotation: label every image from its seed (seed lists) and from the target of its edit."""
