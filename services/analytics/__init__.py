"""The read side the API serves: trends, share of voice, rising terms and mention search.

Every query is a SQLAlchemy expression with bound parameters, except the trend read (see
`trends`). Inputs are validated here (ranges, resolutions, cursors) so the routes stay thin
and bad input is a 4xx.
"""
