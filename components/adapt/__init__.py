"""Adaptation: paste edited crops back into their frames so the seam cannot be told."""
