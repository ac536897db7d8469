"""ForgeLens dashboard: the Streamlit UI layer.

``app.py`` is the router; ``loaders`` reads the run store through cached calls;
``figures`` holds pure plotly builders (DataFrame in, Figure out); ``widgets`` holds the
shared Streamlit pieces; ``jobs`` queues CLI sweeps in the background (``job_queue``: one
queue per store) and reads their progress; ``access`` decides who may launch them; ``health``
says what is damaged or failed. Pages in ``pages/`` only wire these together.
"""
