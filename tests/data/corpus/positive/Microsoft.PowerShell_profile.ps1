# PowerShell profile for the ops container
Set-PSReadLineOption -EditMode Emacs
$env:SCW_ACCESS_KEY = "SCWZMSYCPBQDAB4KTN4C"
$env:SCW_SECRET_KEY = "8D4FE0DA-4BDA-4013-8BC8-3B31F1BE0CA4"
$env:SCW_DEFAULT_PROJECT_ID = "DB030DE5-FA39-4C8E-994F-3DEE9241B6F5"
Import-Module posh-git
function k { kubectl @args }
