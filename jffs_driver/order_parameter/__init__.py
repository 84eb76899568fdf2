"""Order parameters: the curved directed distance of the leading ion through a pore."""
