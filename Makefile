# The two commands of the README: `make run` and `make test`. Both install what is
# missing first, so they work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT   ?= 8501
# e.g. make run STREAMLIT_ARGS="--server.address 0.0.0.0" to serve a lecture hall
STREAMLIT_ARGS ?=

.PHONY: run test install data browser bench clean

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

data: install
	$(PY) -m engine data fetch mnist

# Debian's Chromium and ChromeDriver for the end-to-end test (installed when root
# on a Debian-like machine; elsewhere install them yourself, or the test is skipped).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: chromium/chromedriver missing; the browser test will be skipped"; fi

# Streamlit's first start asks for an e-mail address on the terminal (and fails without
# one); an empty ~/.streamlit/credentials.toml is what pressing Enter there writes.
run: data
	@test -f $(HOME)/.streamlit/credentials.toml || { mkdir -p $(HOME)/.streamlit && \
		printf '[general]\nemail = ""\n' > $(HOME)/.streamlit/credentials.toml; }
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless false $(STREAMLIT_ARGS)

test: data browser
	$(PY) -m pytest -q

bench: data
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) runs
