"""Expression editing: put controlled expressions (emotion, polar code or AU vector) on identities."""
