"""What a finished run says: its results and verdicts, the stragglers, the score
table and its comparison, the fidelity check, and the files a run writes."""
