//! Fixed documents shared by the fuzz targets: a realistic User (core and
//! enterprise extension) and a Group, both as `scim_core::resource::prepare`
//! stores them, plus the server-assigned `id`.

use scim_core::ResourceType;
use serde_json::{Value, json};

pub const USER_ID: &str = "2819c223-7f76-453a-919d-413861904646";
pub const GROUP_ID: &str = "e9e30dba-f08f-4109-8486-d5c6a331660a";

fn with_id(mut doc: Value, id: &str) -> Value {
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), Value::String(id.into()));
    }
    doc
}

/// RFC 7643 §8.2's full User, with the enterprise extension of §8.3.
pub fn user_doc(rt: &ResourceType) -> Value {
    let input = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                "primary": true
            },
            {
                "type": "home",
                "streetAddress": "456 Hollywood Blvd",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA"
            }
        ],
        "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "password": "t1meMa$heen",
        "roles": [{"value": "admin", "primary": true}],
        "entitlements": [{"value": "vpn"}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
        "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith"
            }
        },
        "meta": {"resourceType": "User", "version": "W/\"3694e05e9dff591\""}
    });
    let doc = scim_core::resource::prepare(&input, rt, None, &scim_core::Limits::default())
        .expect("the fixture user is valid");
    with_id(doc, USER_ID)
}

/// RFC 7643 §8.4's Group, with a second member.
pub fn group_doc(rt: &ResourceType) -> Value {
    let input = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Tour Guides",
        "externalId": "tg-1",
        "members": [
            {
                "value": "2819c223-7f76-453a-919d-413861904646",
                "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "type": "User",
                "display": "Babs Jensen"
            },
            {
                "value": "902c246b-6245-4190-8e05-00816be7344a",
                "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a",
                "type": "User"
            }
        ]
    });
    let doc = scim_core::resource::prepare(&input, rt, None, &scim_core::Limits::default())
        .expect("the fixture group is valid");
    with_id(doc, GROUP_ID)
}
