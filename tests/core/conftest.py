import os
import sys

# tests/ has no packages (a tests/io package would shadow the stdlib io), so
# make the shared builders importable by the test modules here.
sys.path.insert(0, os.path.dirname(__file__))
