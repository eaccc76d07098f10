"""What every feature's forms share."""


def strip(value):
    """A WTForms filter: surrounding spaces typed or pasted by accident go (passwords excepted:
    they are checked exactly as typed and never get this filter)."""
    return value.strip() if isinstance(value, str) else value
