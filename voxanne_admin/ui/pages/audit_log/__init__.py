"""The Audit log page: State (`state`) and layout (`page`)."""
