"""The KFP pipeline that wires the stage components, and its embedded local run."""
