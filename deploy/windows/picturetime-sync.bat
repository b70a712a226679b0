@echo off
rem Picture Time sync agent: one pass (mirror frames, encode the timelapse, publish it).
rem Run by Windows Task Scheduler. Register it every 15 minutes, as yourself, with:
rem
rem   schtasks /Create /TN "Picture Time sync" /TR "\"%USERPROFILE%\picturetime\picturetime-sync.bat\"" /SC MINUTE /MO 15 /F
rem
rem (copy this file to %USERPROFILE%\picturetime first, or change the /TR path). Task Scheduler
rem does not start a second instance while one is running (the default "do not start a new
rem instance" rule).
rem
rem The API key is read from %USERPROFILE%\picturetime\api-key.txt (one line), so it never
rem appears on a command line; protect that file. picturetime-sync comes from
rem `uv tool install .\services\sync-agent` (in %USERPROFILE%\.local\bin) or any PATH entry.
setlocal

set "PT_SYNC_GATEWAY_URL=https://pt.example.org"
set "PT_SYNC_DIR=%USERPROFILE%\picturetime"
set "PT_SYNC_EXE=%USERPROFILE%\.local\bin\picturetime-sync.exe"
set "PT_SYNC_LOG=%PT_SYNC_DIR%\sync.log"

if not exist "%PT_SYNC_DIR%\api-key.txt" (
    echo %DATE% %TIME% missing %PT_SYNC_DIR%\api-key.txt >> "%PT_SYNC_LOG%"
    exit /b 2
)
set /p PT_SYNC_API_KEY=<"%PT_SYNC_DIR%\api-key.txt"

echo %DATE% %TIME% start >> "%PT_SYNC_LOG%"
"%PT_SYNC_EXE%" once >> "%PT_SYNC_LOG%" 2>&1
set "RC=%ERRORLEVEL%"
echo %DATE% %TIME% exit %RC% >> "%PT_SYNC_LOG%"
endlocal & exit /b %RC%
