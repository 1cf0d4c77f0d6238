"""matplotlib style sheets shipped with figkit (``plt.style.use("figkit.styles.<name>")``)."""
