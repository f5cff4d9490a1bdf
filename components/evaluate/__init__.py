"""Evaluation: accuracy, macro-F1, per-class scores, confusion matrices, AU ROC-AUC, cross-dataset tables."""
