"""ForgeLens engine: scenarios, models, embeddings, selectors, adaptation, records, run store.

This package never imports streamlit or plotly; everything the dashboard shows can be
produced from here (``python -m core``).
"""
