# exit 0
# stdout
# ldsim fix: snap leaky (base core22, classic confinement): 5 to patch, 0 refused, 0 left alone
set -e
cd -- $WORK/snaps/leaky
patchelf --force-rpath --set-rpath '$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu' bin/app
patchelf --no-default-lib bin/app
patchelf --force-rpath --set-rpath '$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu' bin/tool
patchelf --no-default-lib bin/tool
patchelf --force-rpath --set-rpath '$ORIGIN:/snap/core22/current/lib/x86_64-linux-gnu' lib/libpay.so.1
patchelf --no-default-lib lib/libpay.so.1
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu lib/libpaydep.so.1
patchelf --no-default-lib lib/libpaydep.so.1
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu lib/libunused.so.1
patchelf --no-default-lib lib/libunused.so.1
# stderr
