@echo off
setlocal
set SCW_ACCESS_KEY=SCW8F2KD0GMFP9PWFNQE
set SCW_SECRET_KEY=fbb01d94-78d2-4ab0-8ed6-940fa04dfc2b
set SCW_DEFAULT_REGION=fr-par
scw.exe container container deploy d7d3480b-06a8-43c9-b840-c4662256c6c2
endlocal
