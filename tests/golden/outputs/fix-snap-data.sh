# exit 0
# stdout
# ldsim fix: snap snap-data (base core22, strict confinement): 0 to patch, 0 refused, 0 left alone
# the classic rules do not apply (strict snap without staged libc): nothing to patch
# nothing to do
# stderr
