"""Pure plotly figure builders: each takes DataFrames and returns a ``go.Figure``.

No Streamlit here, no run-store access: everything a builder needs arrives as arguments,
so builders are unit-tested on small synthetic frames.
"""
