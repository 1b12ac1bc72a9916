"""The whole paper in one command (`python -m engine paper`): every figure the data
on this machine allows, run at a budget's size (budgets), judged against the paper's
own numbers by rules that are data (figures: the one table, each claim with its
source), and written as one self-contained report (book: running and resuming;
html: the page that opens from a USB stick)."""
