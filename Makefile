# The README's commands. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app lkapp
CATALOGS := $(wildcard lkapp/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
VENDOR := static/vendor/htmx.min.js
# A server needs the app's packages alone: `make install REQUIREMENTS=requirements.txt`.
REQUIREMENTS ?= requirements-dev.txt

.PHONY: install run test lint format translations clean bench

install: $(VENV)/.installed node_modules/.installed $(VENDOR) $(COMPILED)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENDOR): node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

# Another port: `make run PORT=5001`. The port is checked first (as gunicorn binds it, so a
# socket of a server just stopped does not count): gunicorn alone retries for five seconds and
# ends with "Can't connect".
PORT ?= 5000

run: install
	@$(BIN)/python -c "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $(PORT)))" 2>/dev/null \
		|| { echo "Error: port $(PORT) is in use (another make run?). Stop that server, or use another port: make run PORT=5001" >&2; exit 1; }
	LKAPP_ENV=development $(FLASK) db upgrade
	LKAPP_ENV=development $(FLASK) demo --if-empty
	@echo "Serving on http://127.0.0.1:$(PORT) (Ctrl+C to stop)"
	LKAPP_ENV=development $(BIN)/gunicorn --workers 2 --bind 127.0.0.1:$(PORT) --access-logfile - wsgi:app

test: install
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

# Throughput, latency, SQL per request and memory against the floor (docs/benchmarks.md).
# Builds the demo databases into .bench/ on first use (100,000 contracts: several minutes).
bench: install
	$(BIN)/python -m tests.load.bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Extract texts and merge them into the Russian and Hungarian catalogues.
translations: install
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -k _l -o lkapp/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i lkapp/translations/messages.pot -d lkapp/translations

clean:
	rm -rf $(VENV) node_modules static/vendor
