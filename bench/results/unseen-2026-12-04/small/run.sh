cd /tmp/unseen
# A throwaway build of the working tree before a605554 (indicators in every member) whose
# preprocessing read two environment variables: KILN_ONEHOT_KEEP=1 kept the code column
# beside the indicators, KILN_ONEHOT_MINSHARE=s gave indicators only to categories on at
# least a share s of the training rows. Not kept in the code; results in ../unseen-2026-12-04.md.
for cfg in keep:0 keep:0.05 drop:0.05; do
  k=${cfg%%:*}; s=${cfg##*:}
  K=""; [ $k = keep ] && K=1
  KILN_ONEHOT_KEEP=$K KILN_ONEHOT_MINSHARE=$s GOMAXPROCS=2 ./kiln-x tabpfn eval --task regression --seed 0 --json small/regression > small/reg-$k-$s.json 2> small/reg-$k-$s.progress.txt
  KILN_ONEHOT_KEEP=$K KILN_ONEHOT_MINSHARE=$s GOMAXPROCS=2 ./kiln-x tabpfn eval --baselines tabular-baselines.json --json small/tabular > small/cls-$k-$s.json 2> small/cls-$k-$s.progress.txt
done
