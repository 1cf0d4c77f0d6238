"""The routing plot functions, one module per figure family: validate, compute, draw."""
