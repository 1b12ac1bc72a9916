"""Helpers for the Streamlit pages: figures (pure plotly), store access, teaching
notes. Pages in pages/ stay thin and call these; the engine never imports this."""
