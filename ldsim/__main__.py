from ldsim.cli.main import entry

entry()
