//! A small `User-Agent` reader for passkey environments (docs/shield.md, "Design: shares on the wire"; the output is not contractual).

use shield_core::PasskeyEnv;

fn version_after<'a>(ua: &'a str, marker: &str) -> Option<&'a str> {
    let start = ua.find(marker)? + marker.len();
    let rest = ua.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    rest.get(..end).filter(|v| !v.is_empty())
}

/// Browser, OS, OS version and device class from a `User-Agent`; `unknown` where unsure.
pub(crate) fn passkey_env(ua: Option<&str>) -> PasskeyEnv {
    let Some(ua) = ua.filter(|u| !u.trim().is_empty()) else {
        return PasskeyEnv::new(None, None, None, None);
    };
    let name = if ua.contains("Edg/") {
        Some("Edge")
    } else if ua.contains("OPR/") {
        Some("Opera")
    } else if ua.contains("Firefox/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else {
        ua.split('/')
            .next()
            .map(str::trim)
            .filter(|n| !n.is_empty() && !n.contains(' '))
    };
    let (os, version) = if ua.contains("iPhone") || ua.contains("iPad") {
        ("iOS", version_after(ua, "OS ").map(|v| v.replace('_', ".")))
    } else if ua.contains("Android") {
        ("Android", version_after(ua, "Android ").map(str::to_owned))
    } else if ua.contains("Windows") {
        (
            "Windows",
            version_after(ua, "Windows NT ").map(str::to_owned),
        )
    } else if ua.contains("Mac OS X") {
        (
            "macOS",
            version_after(ua, "Mac OS X ").map(|v| v.replace('_', ".")),
        )
    } else if ua.contains("Linux") {
        ("Linux", None)
    } else {
        ("", None)
    };
    let device = if ua.contains("iPad") || ua.contains("Tablet") {
        Some("Tablet")
    } else if ua.contains("Mobile") || ua.contains("iPhone") {
        Some("Mobile")
    } else if matches!(os, "Windows" | "macOS" | "Linux") {
        Some("Desktop")
    } else {
        None
    };
    PasskeyEnv::new(name, Some(os), version.as_deref(), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents() {
        let mac = passkey_env(Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        ));
        assert_eq!(
            (
                mac.name.as_str(),
                mac.os.as_str(),
                mac.os_version.as_str(),
                mac.device.as_str()
            ),
            ("Chrome", "macOS", "10.15.7", "Desktop")
        );
        let iphone = passkey_env(Some(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        ));
        assert_eq!(iphone.os, "iOS");
        assert_eq!(iphone.os_version, "17.1");
        assert_eq!(iphone.device, "Mobile");
        let none = passkey_env(None);
        assert_eq!(
            none.to_stored(),
            "name=unknown;os=unknown;osVersion=unknown;device=unknown"
        );
        let axios = passkey_env(Some("axios/1.7.9"));
        assert_eq!(axios.name, "axios");
        assert_eq!(axios.os, "unknown");
    }
}
