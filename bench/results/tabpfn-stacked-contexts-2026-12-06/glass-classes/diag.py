import pandas as pd, numpy as np, subprocess, sys
from sklearn.model_selection import train_test_split
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
d=pd.read_csv('/work/shared/data/tabular/glass.csv')
y=d['target'].astype(str); X=d.drop(columns='target')
classes=sorted(y.unique())
res=[]
for s in range(5):
    tr,te=train_test_split(np.arange(len(d)),test_size=0.5,stratify=y,random_state=s)
    d.iloc[tr].to_csv(f'tr{s}.csv',index=False); d.iloc[te].drop(columns='target').to_csv(f'te{s}.csv',index=False)
    bin_=sys.argv[1] if len(sys.argv)>1 else '/work/runs/kiln-f667db0'
    subprocess.run([bin_,'tabpfn','predict','--train',f'tr{s}.csv','--test',f'te{s}.csv','--out',f'p{s}.csv']+sys.argv[2:],check=True,stderr=subprocess.DEVNULL)
    p=pd.read_csv(f'p{s}.csv')
    rf=RandomForestClassifier(300,random_state=0,n_jobs=1).fit(X.iloc[tr],y.iloc[tr])
    pr=rf.predict_proba(X.iloc[te])
    yt=y.iloc[te].values
    row=[]
    for i,c in enumerate(classes):
        col=[k for k in p.columns if k in ('p_'+c,'prob_'+c,c,'P('+c+')')]
        kp=p[col[0]].values if col else None
        row.append((c, roc_auc_score(yt==c,kp), roc_auc_score(yt==rf.classes_[i],pr[:,i]) if rf.classes_[i]==c else None))
    res.append(row)
    if s==0: print(p.columns.tolist())
for i,c in enumerate(classes):
    k=np.mean([r[i][1] for r in res]); f=np.mean([r[i][2] for r in res])
    print(c, 'kiln %.4f rf %.4f'%(k,f))
print('macro kiln %.4f rf %.4f'%(np.mean([[r[i][1] for r in res] for i in range(len(classes))]), np.mean([[r[i][2] for r in res] for i in range(len(classes))])))
