"""One router per resource or wire dialect."""
