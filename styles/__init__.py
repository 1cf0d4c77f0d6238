"""matplotlib style sheets shipped with figkit (``plt.style.use("figkit.styles.<name>")``).

Importing this package makes the corrected Computer Modern font of the "cm" sheet known
to matplotlib (built once into the user's cache), so the sheets work from plain matplotlib too.
"""

from figkit.fonts import computer_modern

computer_modern()
