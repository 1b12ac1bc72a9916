"""Stragglers engine: train many seeds at once, measure class-manifold geometry,
find the inversion and the stragglers (Ciceri et al., 2024). No Streamlit here."""
__version__ = "0.1.0"
