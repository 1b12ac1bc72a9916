"""The paper's figures as pure plotly functions of what the engine writes (summaries,
metrics frames, the experiments' result dicts and artifacts): one look for the
dashboard's pages and the paper report (engine.paper). No Streamlit here."""
