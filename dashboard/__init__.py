"""ForgeLens dashboard: the Streamlit UI layer.

``app.py`` is the router; ``loaders`` reads the run store through cached calls;
``figures`` holds pure plotly builders (DataFrame in, Figure out); ``widgets`` holds the
shared Streamlit pieces; ``jobs`` launches CLI sweeps in the background and reads their
progress. Pages in ``pages/`` only wire these together.
"""
