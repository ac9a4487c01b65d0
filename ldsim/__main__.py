from ldsim.cli import entry

entry()
