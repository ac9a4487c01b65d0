# exit 0
# stdout
# ldsim fix: snap runpath (base core22, classic confinement): 3 to patch, 0 refused, 0 left alone
set -e
cd -- $WORK/snaps/runpath
patchelf --force-rpath --set-rpath '$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu' bin/app
patchelf --force-rpath --set-rpath '$ORIGIN:/snap/core22/current/lib/x86_64-linux-gnu' lib/libpay.so.1
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu lib/libpaydep.so.1
# stderr
