"""Jinja templates for figkit's LaTeX and Markdown output."""
