# exit 0
# stdout
# ldsim fix: snap alternatives (base core22, classic confinement): 0 to patch, 0 refused, 0 left alone
# nothing to do
# stderr
